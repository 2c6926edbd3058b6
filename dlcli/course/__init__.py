"""The course: the lesson shown for real (`dlcli lesson`, `dlcli.lesson`, `dlcli.lessons`; a
package named `lessons` would shadow the function `dlcli.lessons`). Each comparison of the
classic deep-learning lesson is one declaration, run at full length through the ordinary sweep
machinery, and its claim is checked on the numbers the runs measured.

    >>> import dlcli
    >>> [one.name for one in dlcli.lessons().lessons][:3]
    ['neurons', 'lambda', 'activation']
    >>> dlcli.lesson("neurons").lessons[0].holds                  # doctest: +SKIP
    True

    declare.py   `Lesson` (a declaration), its steps `Train` and `Features`, and `Run`: what a
                 claim reads of each run (metrics.json, history.csv, knobs, folder)
    catalog.py   the lessons, `LESSONS`, in the lesson's order: adding one is one declaration
    run.py       `lesson(...)` (run and check), `lessons()` (list), their results

`dlcli lesson list`, `dlcli lesson run`, the README's lesson section and the lesson tests all
read `LESSONS`. Pure Python here; training imports torch when a lesson runs.
"""

from __future__ import annotations

from dlcli.course.catalog import LESSONS
from dlcli.course.declare import Features, Lesson, Run, Train
from dlcli.course.run import LessonList, LessonResult, LessonsResult, lesson, lessons

__all__ = [
    "LESSONS",
    "Features",
    "Lesson",
    "LessonList",
    "LessonResult",
    "LessonsResult",
    "Run",
    "Train",
    "lesson",
    "lessons",
]
