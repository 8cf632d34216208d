using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

// Every native signature in this assembly is blittable; no runtime marshalling is wanted.
[assembly: DisableRuntimeMarshalling]

namespace PmemFs.Media.Native;

/// <summary>
/// Thin binding of PMDK libpmem2 (libpmem2.h, libpmem2/base.h, version 1.12). C spellings on
/// purpose: this file is the header, transcribed. Every function returns 0 or a negative
/// PMEM2_E_* / -errno code; <see cref="pmem2_errormsg"/> describes the last failure on the
/// calling thread.
/// </summary>
internal static unsafe partial class LibPmem2
{
    private const string Lib = "libpmem2.so.1";

    // enum pmem2_granularity
    public const int PMEM2_GRANULARITY_BYTE = 0;
    public const int PMEM2_GRANULARITY_CACHE_LINE = 1;
    public const int PMEM2_GRANULARITY_PAGE = 2;

    // enum pmem2_sharing_type
    public const int PMEM2_SHARED = 0;
    public const int PMEM2_PRIVATE = 1;

    // pmem2_config_set_protection
    public const uint PMEM2_PROT_READ = 1U << 30;
    public const uint PMEM2_PROT_WRITE = 1U << 31;

    // flags of pmem2_memcpy_fn / pmem2_memset_fn
    public const uint PMEM2_F_MEM_NODRAIN = 1U << 0;
    public const uint PMEM2_F_MEM_NONTEMPORAL = 1U << 1;
    public const uint PMEM2_F_MEM_TEMPORAL = 1U << 2;
    public const uint PMEM2_F_MEM_WC = 1U << 3;
    public const uint PMEM2_F_MEM_WB = 1U << 4;
    public const uint PMEM2_F_MEM_NOFLUSH = 1U << 5;

    // error codes (the ones this project reacts to; ErrorName knows them all)
    public const int PMEM2_E_NOSUPP = -100001;
    public const int PMEM2_E_SRC_DEVDAX_PRIVATE = -100020;
    public const int PMEM2_E_NO_BAD_BLOCK_FOUND = -100029;

    [StructLayout(LayoutKind.Sequential)]
    public struct pmem2_badblock
    {
        public nuint offset;
        public nuint length;
    }

    // ---- config ----
    [LibraryImport(Lib)]
    public static partial int pmem2_config_new(out Pmem2ConfigHandle cfg);

    [LibraryImport(Lib)]
    public static partial int pmem2_config_delete(nint* cfg);

    [LibraryImport(Lib)]
    public static partial int pmem2_config_set_required_store_granularity(Pmem2ConfigHandle cfg, int g);

    [LibraryImport(Lib)]
    public static partial int pmem2_config_set_sharing(Pmem2ConfigHandle cfg, int type);

    [LibraryImport(Lib)]
    public static partial int pmem2_config_set_protection(Pmem2ConfigHandle cfg, uint prot);

    // ---- source ----
    [LibraryImport(Lib)]
    public static partial int pmem2_source_from_fd(out Pmem2SourceHandle src, int fd);

    [LibraryImport(Lib)]
    public static partial int pmem2_source_delete(nint* src);

    [LibraryImport(Lib)]
    public static partial int pmem2_source_size(Pmem2SourceHandle src, nuint* size);

    [LibraryImport(Lib)]
    public static partial int pmem2_source_device_usc(Pmem2SourceHandle src, ulong* usc);

    // ---- map ----
    [LibraryImport(Lib)]
    public static partial int pmem2_map_new(out Pmem2MapHandle map, Pmem2ConfigHandle cfg, Pmem2SourceHandle src);

    [LibraryImport(Lib)]
    public static partial int pmem2_map_delete(nint* map);

    [LibraryImport(Lib)]
    public static partial void* pmem2_map_get_address(Pmem2MapHandle map);

    [LibraryImport(Lib)]
    public static partial nuint pmem2_map_get_size(Pmem2MapHandle map);

    [LibraryImport(Lib)]
    public static partial int pmem2_map_get_store_granularity(Pmem2MapHandle map);

    // The function pointers below stay valid while the map exists.

    /// <summary>void (*)(const void *ptr, size_t size)</summary>
    [LibraryImport(Lib)]
    public static partial delegate* unmanaged<void*, nuint, void> pmem2_get_persist_fn(Pmem2MapHandle map);

    /// <summary>void (*)(const void *ptr, size_t size)</summary>
    [LibraryImport(Lib)]
    public static partial delegate* unmanaged<void*, nuint, void> pmem2_get_flush_fn(Pmem2MapHandle map);

    /// <summary>void (*)(void)</summary>
    [LibraryImport(Lib)]
    public static partial delegate* unmanaged<void> pmem2_get_drain_fn(Pmem2MapHandle map);

    /// <summary>void *(*)(void *pmemdest, const void *src, size_t len, unsigned flags)</summary>
    [LibraryImport(Lib)]
    public static partial delegate* unmanaged<void*, void*, nuint, uint, void*> pmem2_get_memcpy_fn(Pmem2MapHandle map);

    /// <summary>void *(*)(void *pmemdest, int c, size_t len, unsigned flags)</summary>
    [LibraryImport(Lib)]
    public static partial delegate* unmanaged<void*, int, nuint, uint, void*> pmem2_get_memset_fn(Pmem2MapHandle map);

    [LibraryImport(Lib)]
    public static partial int pmem2_deep_flush(Pmem2MapHandle map, void* ptr, nuint size);

    // ---- bad blocks ----
    [LibraryImport(Lib)]
    public static partial int pmem2_badblock_context_new(out Pmem2BadBlockContextHandle bbctx, Pmem2SourceHandle src);

    [LibraryImport(Lib)]
    public static partial int pmem2_badblock_next(Pmem2BadBlockContextHandle bbctx, pmem2_badblock* bb);

    [LibraryImport(Lib)]
    public static partial void pmem2_badblock_context_delete(nint* bbctx);

    [LibraryImport(Lib)]
    public static partial int pmem2_badblock_clear(Pmem2BadBlockContextHandle bbctx, pmem2_badblock* bb);

    // ---- errors ----
    [LibraryImport(Lib)]
    public static partial byte* pmem2_errormsg();

    /// <summary>The last error message of this thread ("" when libpmem2 left none).</summary>
    public static string LastErrorMessage() => Marshal.PtrToStringUTF8((nint)pmem2_errormsg()) ?? "";

    /// <summary>Symbolic name of a return code: PMEM2_E_* or the errno text.</summary>
    public static string ErrorName(int rc)
    {
        int index = -(rc + 100000);
        if (index >= 0 && index < ErrorNames.Length && ErrorNames[index] is { } name) return name;
        if (rc < 0 && rc > -4096) return Marshal.GetPInvokeErrorMessage(-rc);
        return "unknown error";
    }

    // Indexed by -(code + 100000), from libpmem2/base.h.
    private static readonly string?[] ErrorNames =
    [
        "PMEM2_E_UNKNOWN", "PMEM2_E_NOSUPP", null, "PMEM2_E_FILE_HANDLE_NOT_SET",
        "PMEM2_E_INVALID_FILE_HANDLE", "PMEM2_E_INVALID_FILE_TYPE", "PMEM2_E_MAP_RANGE",
        "PMEM2_E_MAPPING_EXISTS", "PMEM2_E_GRANULARITY_NOT_SET", "PMEM2_E_GRANULARITY_NOT_SUPPORTED",
        "PMEM2_E_OFFSET_OUT_OF_RANGE", "PMEM2_E_OFFSET_UNALIGNED", "PMEM2_E_INVALID_ALIGNMENT_FORMAT",
        "PMEM2_E_INVALID_ALIGNMENT_VALUE", "PMEM2_E_INVALID_SIZE_FORMAT", "PMEM2_E_LENGTH_UNALIGNED",
        "PMEM2_E_MAPPING_NOT_FOUND", "PMEM2_E_BUFFER_TOO_SMALL", "PMEM2_E_SOURCE_EMPTY",
        "PMEM2_E_INVALID_SHARING_VALUE", "PMEM2_E_SRC_DEVDAX_PRIVATE", "PMEM2_E_INVALID_ADDRESS_REQUEST_TYPE",
        "PMEM2_E_ADDRESS_UNALIGNED", "PMEM2_E_ADDRESS_NULL", "PMEM2_E_DEEP_FLUSH_RANGE",
        "PMEM2_E_INVALID_REGION_FORMAT", "PMEM2_E_DAX_REGION_NOT_FOUND", "PMEM2_E_INVALID_DEV_FORMAT",
        "PMEM2_E_CANNOT_READ_BOUNDS", "PMEM2_E_NO_BAD_BLOCK_FOUND", "PMEM2_E_LENGTH_OUT_OF_RANGE",
        "PMEM2_E_INVALID_PROT_FLAG", "PMEM2_E_NO_ACCESS", "PMEM2_E_VM_RESERVATION_NOT_EMPTY",
        "PMEM2_E_MAP_EXISTS", "PMEM2_E_FILE_DESCRIPTOR_NOT_SET", "PMEM2_E_SOURCE_TYPE_NOT_SUPPORTED",
        "PMEM2_E_IO_FAIL",
    ];
}

/// <summary>struct pmem2_config *; released with pmem2_config_delete.</summary>
internal sealed unsafe class Pmem2ConfigHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public Pmem2ConfigHandle() : base(ownsHandle: true) { }

    protected override bool ReleaseHandle()
    {
        nint p = handle;
        return LibPmem2.pmem2_config_delete(&p) == 0;
    }
}

/// <summary>struct pmem2_source *; released with pmem2_source_delete (the fd stays open).</summary>
internal sealed unsafe class Pmem2SourceHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public Pmem2SourceHandle() : base(ownsHandle: true) { }

    protected override bool ReleaseHandle()
    {
        nint p = handle;
        return LibPmem2.pmem2_source_delete(&p) == 0;
    }
}

/// <summary>struct pmem2_map *; released with pmem2_map_delete, which unmaps the region.</summary>
internal sealed unsafe class Pmem2MapHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public Pmem2MapHandle() : base(ownsHandle: true) { }

    protected override bool ReleaseHandle()
    {
        nint p = handle;
        return LibPmem2.pmem2_map_delete(&p) == 0;
    }
}

/// <summary>struct pmem2_badblock_context *; released with pmem2_badblock_context_delete.</summary>
internal sealed unsafe class Pmem2BadBlockContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public Pmem2BadBlockContextHandle() : base(ownsHandle: true) { }

    protected override bool ReleaseHandle()
    {
        nint p = handle;
        LibPmem2.pmem2_badblock_context_delete(&p);
        return true;
    }
}
