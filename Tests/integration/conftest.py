"""Fixtures shared by the integration tests: one PostgreSQL cluster per test run."""

import pytest

import harness as h


@pytest.fixture(scope="session")
def postgres():
    pg = h.Postgres().start()
    yield pg
    pg.remove()
