from setuptools import Extension, setup

# pymalloc's arena allocator can only be replaced from C (PyObject_SetArenaAllocator).
setup(ext_modules=[Extension("rentflow_memory._arenas", ["rentflow_memory/_arenas.c"])])
