"""Content validation: messages against the standard's definitions and each partner's guide.

Beside the readers (:mod:`gateway.syntax`), which check envelopes, this
package checks what a message contains, as StAEDI keeps schema validation
apart from its reader:

=====================  ========================================================
``definitions/``       the data: one YAML file per syntax and directory version
``definitions.py``     loads it into segment, element and structure definitions
``validator.py``       walks a :class:`~gateway.model.Message`, returns Issues
``guide.py``           partner implementation guides: tighten the standard
=====================  ========================================================

Every finding is an :class:`~gateway.model.Issue` with a catalogue code
(:mod:`gateway.codes`) and a location, so acknowledgements (AK3/AK4, IK3/IK4,
UCS/UCD), dead letters and ``edigw validate`` all report it the same way.
"""

from gateway.validation.validator import definition_for, validate

__all__ = ["validate", "definition_for"]
