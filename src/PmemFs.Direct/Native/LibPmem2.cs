using System.Runtime.InteropServices;

namespace PmemFs.Direct.Native;

/// <summary>
/// The part of PMDK libpmem2 (1.12, Debian's libpmem2) the client uses: sources, maps placed in
/// a virtual memory reservation, and the persist, flush and drain functions for the region's
/// real granularity. C spellings on purpose: this is the header, transcribed.
/// </summary>
internal static unsafe partial class LibPmem2
{
    private const string Lib = "libpmem2.so.1";

    public const int PMEM2_GRANULARITY_BYTE = 0, PMEM2_GRANULARITY_CACHE_LINE = 1, PMEM2_GRANULARITY_PAGE = 2;
    public const uint PMEM2_PROT_READ = 1U << 30, PMEM2_PROT_WRITE = 1U << 31;

    [LibraryImport(Lib)] public static partial int pmem2_config_new(nint* cfg);
    [LibraryImport(Lib)] public static partial int pmem2_config_delete(nint* cfg);
    [LibraryImport(Lib)] public static partial int pmem2_config_set_required_store_granularity(nint cfg, int g);
    [LibraryImport(Lib)] public static partial int pmem2_config_set_offset(nint cfg, nuint offset);
    [LibraryImport(Lib)] public static partial int pmem2_config_set_length(nint cfg, nuint length);
    [LibraryImport(Lib)] public static partial int pmem2_config_set_protection(nint cfg, uint prot);
    [LibraryImport(Lib)] public static partial int pmem2_config_set_vm_reservation(nint cfg, nint rsv, nuint offset);

    [LibraryImport(Lib)] public static partial int pmem2_source_from_fd(nint* src, int fd);
    [LibraryImport(Lib)] public static partial int pmem2_source_delete(nint* src);
    [LibraryImport(Lib)] public static partial int pmem2_source_size(nint src, nuint* size);
    [LibraryImport(Lib)] public static partial int pmem2_source_alignment(nint src, nuint* alignment);

    [LibraryImport(Lib)] public static partial int pmem2_vm_reservation_new(nint* rsv, void* addr, nuint size);
    [LibraryImport(Lib)] public static partial int pmem2_vm_reservation_delete(nint* rsv);
    [LibraryImport(Lib)] public static partial void* pmem2_vm_reservation_get_address(nint rsv);

    [LibraryImport(Lib)] public static partial int pmem2_map_new(nint* map, nint cfg, nint src);
    [LibraryImport(Lib)] public static partial int pmem2_map_delete(nint* map);
    [LibraryImport(Lib)] public static partial void* pmem2_map_get_address(nint map);
    [LibraryImport(Lib)] public static partial int pmem2_map_get_store_granularity(nint map);
    [LibraryImport(Lib)] public static partial delegate* unmanaged<void*, nuint, void> pmem2_get_persist_fn(nint map);
    [LibraryImport(Lib)] public static partial delegate* unmanaged<void*, nuint, void> pmem2_get_flush_fn(nint map);
    [LibraryImport(Lib)] public static partial delegate* unmanaged<void> pmem2_get_drain_fn(nint map);
    [LibraryImport(Lib)] public static partial delegate* unmanaged<void*, void*, nuint, uint, void*> pmem2_get_memcpy_fn(nint map);

    [LibraryImport(Lib)] private static partial nint pmem2_errormsg();

    /// <summary>libpmem2's message for the last failure on this thread, with the code.</summary>
    public static string Error(int rc) => $"{Marshal.PtrToStringUTF8(pmem2_errormsg()) ?? "unknown error"} (libpmem2 {rc})";
}
