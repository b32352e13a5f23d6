"""Numeric formats the simulator knows: name, storage bytes per element, and a fixed index.

The index is the column used in the engine's structure-of-arrays tables, so it must never be
reordered; new formats are appended.
"""

# name -> bytes per element in memory (int4 packs two elements per byte)
BYTES_PER_ELEMENT = {
    "int4": 0.5,
    "int8": 1.0,
    "int16": 2.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp32": 4.0,
}
NAMES = tuple(BYTES_PER_ELEMENT)
INDEX = {name: i for i, name in enumerate(NAMES)}
COUNT = len(NAMES)
