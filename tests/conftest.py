import pytest

from wallet import ledger, services


@pytest.fixture(autouse=True)
def _fresh_ledger_caches():
    """Account ids cached per process point at rows a transactional test has truncated."""
    ledger.clear_account_cache()
    services._system_ids.clear()
    yield
    ledger.clear_account_cache()
    services._system_ids.clear()
