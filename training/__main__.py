import sys

if sys.argv[1:2] == ["generate"]:
    from training.generate import main

    main(sys.argv[2:])
else:
    from training.train import main

    main()
