from rentflow_common.service import serve

from rentflow_reporting.bootstrap import build_app

serve(build_app(), "reporting", background=True)  # off a payment's path to its account
