import sys

from calc import add

if __name__ == "__main__":
    numbers = [int(x) for x in sys.argv[1:]] or [2, 3]
    total = 0
    for n in numbers:
        total = add(total, n)
    print(total)
