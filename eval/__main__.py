from eval.dataset_report import main

main()
