from training.train import main

main()
