import sys

from vras_keras.cli import main

sys.exit(main())
