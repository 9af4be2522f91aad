from torchscaffold.cli import main

main()
