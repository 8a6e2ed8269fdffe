# The gateway's simulator fixtures (wxsim on loopback, an account known to both sides).
from mediabao.wechat.tests.conftest import _wxsim, account, sim, sim_account, wxsim  # noqa: F401
