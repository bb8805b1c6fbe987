import sys

if sys.argv[1:2] == ["model"]:
    from eval.model_report import main

    main(sys.argv[2:])
elif sys.argv[1:2] == ["endpoint"]:
    from eval.endpoint_report import main

    main(sys.argv[2:])
elif sys.argv[1:2] == ["experiment"]:
    from eval.experiment import main

    main(sys.argv[2:])
else:
    from eval.dataset_report import main

    report = main()
    sys.exit(1 if report["rows_with_problems"] else 0)
