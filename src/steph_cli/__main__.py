from steph_cli.cli.app import main

main()
