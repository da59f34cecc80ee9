from rentflow_cli.main import main

main()
