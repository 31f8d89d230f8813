"""Pure rules of the growth system (用户成长体系): points, levels, incentives, badges, boards.

Nothing here touches a database: the services in `userops.membership` load state, ask these
functions what to do, and write the answer. docs/membership.md states every rule in words.
"""
