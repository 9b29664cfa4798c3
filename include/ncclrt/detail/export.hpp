// ncclrt is built with hidden visibility: a shared libncclrt.so exports the declarations of these
// public headers (wrapped in NCCLRT_EXPORT_BEGIN / NCCLRT_EXPORT_END) and nothing of its own
// internals. For a consumer the wrapping changes nothing.
#pragma once

#if defined(__GNUC__)
#define NCCLRT_EXPORT_BEGIN _Pragma("GCC visibility push(default)")
#define NCCLRT_EXPORT_END _Pragma("GCC visibility pop")
#else
#define NCCLRT_EXPORT_BEGIN
#define NCCLRT_EXPORT_END
#endif
