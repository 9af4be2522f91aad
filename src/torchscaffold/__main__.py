from torchscaffold.cli import main

main(prog_name="torchgen")
