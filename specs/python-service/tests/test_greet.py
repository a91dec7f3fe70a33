import unittest

from greet import greeting


class GreetingTest(unittest.TestCase):
    def test_reads_large_numbers(self):
        self.assertTrue(greeting(1_200_000).endswith(": 1.2 million visitors"))


if __name__ == "__main__":
    unittest.main()
