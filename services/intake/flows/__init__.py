"""Processes that span intake's domains (:mod:`.service`) and the shapes that gather them
(:mod:`.models`), above the domains they touch."""
