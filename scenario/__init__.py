"""A multi-process deployment scenario with faults, checked against wxsim's ground truth.

``python -m scenario.run --help``; see docs/deployment.md, section "The deployment scenario".
"""
