/* Keeps the arenas CPython's small-object allocator (pymalloc) gives back, for it to take again.

   pymalloc takes its memory from the OS an arena (1 MiB) at a time and gives an arena back as soon
   as the last object in it dies. A service that builds a batch of thousands of messages' objects
   and then drops them takes and gives back tens of arenas a batch, and each page of an arena new
   from the OS costs a page fault and the kernel zeroing it (on a virtual machine whose free memory
   goes back to the host, the host's fault as well). Here the arenas given back wait in a list, up
   to a capacity in bytes, and are handed out again before any new one is asked of the OS.

   pymalloc calls these with the GIL held, one thread at a time. Every arena, kept or not, comes
   from CPython's own allocator (mmap), and what is not kept goes back through it (munmap). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObjectArenaAllocator base;
static int installed = 0;
/* What was given back and is kept: blocks and their sizes. pymalloc's arenas are 1 MiB; the same
   allocator also serves the interpreter's frame stack chunks (16 KiB in 3.11). */
typedef struct { void *ptr; size_t size; } block;
#define MAX_SLOTS 65536
static block *kept = NULL;
static size_t kept_n = 0, kept_bytes = 0, capacity = 0, slots = 0;
static unsigned long long reused = 0, given_back = 0;

static void *
arena_alloc(void *ctx, size_t size)
{
    for (size_t i = kept_n; i-- > 0;) {  /* the latest kept first: its pages are the likeliest in cache */
        if (kept[i].size == size) {
            void *ptr = kept[i].ptr;
            kept[i] = kept[--kept_n];
            kept_bytes -= size;
            reused++;
            return ptr;
        }
    }
    return base.alloc(base.ctx, size);
}

static void
arena_free(void *ctx, void *ptr, size_t size)
{
    if (kept_bytes + size <= capacity && kept_n < slots) {
        kept[kept_n].ptr = ptr;
        kept[kept_n].size = size;
        kept_n++;
        kept_bytes += size;
        return;
    }
    given_back++;
    base.free(base.ctx, ptr, size);
}

static PyObject *
keep(PyObject *module, PyObject *arg)
{
    Py_ssize_t wanted = PyLong_AsSsize_t(arg);
    if (wanted == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (wanted < 0) {
        PyErr_SetString(PyExc_ValueError, "keep: the number of bytes cannot be negative");
        return NULL;
    }
    while (kept_bytes > (size_t)wanted) {  /* less wanted than is kept: the rest go back to the OS */
        kept_n--;
        kept_bytes -= kept[kept_n].size;
        base.free(base.ctx, kept[kept_n].ptr, kept[kept_n].size);
    }
    /* as many blocks as the smallest (a stack chunk) fill, up to MAX_SLOTS (1 MiB of list) */
    size_t need = (size_t)wanted / 16384 + 1;
    if (need > MAX_SLOTS) {
        need = MAX_SLOTS;
    }
    if (need > slots) {
        block *list = PyMem_RawRealloc(kept, need * sizeof(block));
        if (list == NULL) {
            return PyErr_NoMemory();
        }
        kept = list;
        slots = need;
    }
    capacity = (size_t)wanted;
    if (!installed) {
        PyObjectArenaAllocator ours = {NULL, arena_alloc, arena_free};
        PyObject_GetArenaAllocator(&base);
        PyObject_SetArenaAllocator(&ours);
        installed = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *
stats(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("{s:n,s:n,s:n,s:K,s:K}", "kept", (Py_ssize_t)kept_n, "kept_bytes", (Py_ssize_t)kept_bytes,
                         "capacity_bytes", (Py_ssize_t)capacity, "reused", reused, "given_back", given_back);
}

static PyMethodDef methods[] = {
    {"keep", keep, METH_O,
     "keep(n): from now on, keep up to n bytes of the arenas pymalloc gives back, and hand them out again."},
    {"stats", stats, METH_NOARGS,
     "stats(): blocks and bytes kept now, the capacity, blocks handed out again, and given back to the OS."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arenas", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__arenas(void)
{
    return PyModule_Create(&module);
}
