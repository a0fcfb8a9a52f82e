from mlrules.cli import main

main()
