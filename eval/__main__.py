import sys

from eval.dataset_report import main

report = main()
sys.exit(1 if report["rows_with_problems"] else 0)
