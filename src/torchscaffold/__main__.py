from torchscaffold.cli import run

run()
