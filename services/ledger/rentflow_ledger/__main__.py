from rentflow_common.service import serve
from rentflow_ledger.bootstrap import build_app

serve(build_app(), "ledger")
