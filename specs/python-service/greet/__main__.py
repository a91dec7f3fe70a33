import sys

from greet import greeting

print(greeting(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
