"""Benchmark settings: the production settings plus a ceiling view (see bench_gateway)."""

from mediabao.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_bench"
