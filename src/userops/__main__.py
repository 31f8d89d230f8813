from userops.cli import main

main()
