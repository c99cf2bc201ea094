from slotgate.cli.main import main

main()
