"""`python -m rentflow_notifications`: the service on RENTFLOW_PORT."""
from rentflow_common.service import serve
from rentflow_notifications.bootstrap import build_app

serve(build_app(), "notifications", background=True)  # off a payment's path to its account
