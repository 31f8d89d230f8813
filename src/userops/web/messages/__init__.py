"""The console's message catalogues, one module per area of the console.

Each module holds `EN` and `ZH_CN`, two dicts with the same keys, prefixed by the area
(`analytics.*`, `profiles.*`, ...); `userops.web.i18n` merges them, and a test checks that no key
is defined twice and both languages hold the same keys.
"""
