import sys

from mysql_redshift_assets.cli import main

sys.exit(main())
