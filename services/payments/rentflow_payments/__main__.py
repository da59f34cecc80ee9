from rentflow_common.service import serve

from rentflow_payments.bootstrap import build_app

serve(build_app(), "payments")
