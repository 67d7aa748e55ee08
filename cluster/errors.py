"""The errors occsim's cluster side raises, one hierarchy (Elasticsearch's own errors, which a
node answers with, are `occsim.node.errors`):

    OccsimError
    ├── ClusterError         the cluster could not start, or a node could not be reached
    ├── RemoteClusterError   a cluster `occsim up` started refused a request or is unreachable
    ├── ScenarioError        a scenario that cannot be found, loaded or run as asked
    ├── ScheduleError        a schedule file that cannot be read, or a run that leaves it
    ├── SimulationStalled    nothing can happen any more, yet the story is not over
    ├── TraceError           a file that does not hold trace events (also a ValueError)
    └── ConsoleSyntaxError   a console file that cannot be read (also a ValueError)

A command catches `OccsimError` to print one line instead of a traceback.
"""


class OccsimError(Exception):
    """Something occsim cannot do as asked; the message says what, for a person."""


class ClusterError(OccsimError):
    """The cluster could not start or a node could not be reached."""


class RemoteClusterError(OccsimError):
    """The manager refused a request or could not be reached."""


class ScenarioError(OccsimError):
    """A scenario that cannot be found, loaded or run with the options given."""


class ScheduleError(OccsimError):
    """A schedule file that cannot be read, or a run that does not follow its schedule."""


class SimulationStalled(OccsimError, RuntimeError):
    """Nothing can ever happen again, yet the simulation's main task has not finished."""


class TraceError(OccsimError, ValueError):
    """A trace file that does not hold trace events (a broken line, a field of the wrong type)."""


class ConsoleSyntaxError(OccsimError, ValueError):
    """A console file that cannot be read; the message names the line."""
