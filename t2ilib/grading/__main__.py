import sys

from t2ilib.grading.bulk import main

sys.exit(main())
