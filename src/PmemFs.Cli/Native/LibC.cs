using System.Runtime.InteropServices;

namespace PmemFs.Cli.Native;

/// <summary>
/// What kind of file a path names: .NET reports a character device as an ordinary file of
/// length 0, and mkfs must tell a device-DAX device from an empty image file before opening it.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc.so.6";

    public const int AT_FDCWD = -100;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_SIZE = 0x200;
    public const uint STATX_BLOCKS = 0x400;

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFDIR = 0x4000;
    public const int S_IFCHR = 0x2000;

    public const int ENOENT = 2;
    public const int ENOTDIR = 20;

    /// <summary>struct statx (linux/stat.h): the same layout on every architecture. Only the fields read are spelled out.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct statx_t
    {
        [FieldOffset(0)] public uint stx_mask;
        [FieldOffset(28)] public ushort stx_mode;
        [FieldOffset(40)] public ulong stx_size;
        [FieldOffset(48)] public ulong stx_blocks;
    }

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string pathname, int flags, uint mask, statx_t* statxbuf);
}
