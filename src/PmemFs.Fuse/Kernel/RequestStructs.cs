using System.Runtime.InteropServices;

namespace PmemFs.Fuse.Kernel;

// The request side of include/uapi/linux/fuse.h (7.45), x86-64. Tests check each size against the header.

/// <summary>struct fuse_in_header (40 bytes): starts every request.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct InHeader
{
    public uint Len;
    public uint Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtLen;
    public ushort Padding;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct InitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
    public fixed uint Unused[11];
}

[StructLayout(LayoutKind.Sequential)] public struct ForgetIn { public ulong Nlookup; }
[StructLayout(LayoutKind.Sequential)] public struct BatchForgetIn { public uint Count; public uint Dummy; }
[StructLayout(LayoutKind.Sequential)] public struct ForgetOne { public ulong NodeId; public ulong Nlookup; }
[StructLayout(LayoutKind.Sequential)] public struct GetAttrIn { public uint GetattrFlags; public uint Dummy; public ulong Fh; }

/// <summary>fuse_statx_in (7.39): getattr's flags and handle, then statx(2)'s flags and the fields asked for.</summary>
[StructLayout(LayoutKind.Sequential)] public struct StatxIn { public uint GetattrFlags; public uint Reserved; public ulong Fh; public uint SxFlags; public uint SxMask; }

[StructLayout(LayoutKind.Sequential)]
public struct SetAttrIn
{
    public uint Valid;
    public uint Padding;
    public ulong Fh;
    public ulong Size;
    public ulong LockOwner;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}

[StructLayout(LayoutKind.Sequential)] public struct MkNodIn { public uint Mode; public uint Rdev; public uint Umask; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct MkDirIn { public uint Mode; public uint Umask; }
[StructLayout(LayoutKind.Sequential)] public struct RenameIn { public ulong NewDir; }
[StructLayout(LayoutKind.Sequential)] public struct Rename2In { public ulong NewDir; public uint Flags; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct LinkIn { public ulong OldNodeId; }
[StructLayout(LayoutKind.Sequential)] public struct OpenIn { public uint Flags; public uint OpenFlags; }
[StructLayout(LayoutKind.Sequential)] public struct CreateIn { public uint Flags; public uint Mode; public uint Umask; public uint OpenFlags; }

[StructLayout(LayoutKind.Sequential)]
public struct ReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct WriteIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)] public struct ReleaseIn { public ulong Fh; public uint Flags; public uint ReleaseFlags; public ulong LockOwner; }
[StructLayout(LayoutKind.Sequential)] public struct FlushIn { public ulong Fh; public uint Unused; public uint Padding; public ulong LockOwner; }
[StructLayout(LayoutKind.Sequential)] public struct FsyncIn { public ulong Fh; public uint FsyncFlags; public uint Padding; }

/// <summary>struct fuse_setxattr_in as before FUSE_SETXATTR_EXT (8 bytes; the extended one is 16), which is not negotiated.</summary>
[StructLayout(LayoutKind.Sequential)] public struct SetXattrIn { public uint Size; public uint Flags; }
[StructLayout(LayoutKind.Sequential)] public struct GetXattrIn { public uint Size; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct AccessIn { public uint Mask; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct InterruptIn { public ulong Unique; }

[StructLayout(LayoutKind.Sequential)]
public struct IoctlIn
{
    public ulong Fh;
    public uint Flags;
    public uint Cmd;
    public ulong Arg;
    public uint InSize;
    public uint OutSize;
}

[StructLayout(LayoutKind.Sequential)] public struct PollIn { public ulong Fh; public ulong Kh; public uint Flags; public uint Events; }
[StructLayout(LayoutKind.Sequential)] public struct FallocateIn { public ulong Fh; public ulong Offset; public ulong Length; public uint Mode; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct LseekIn { public ulong Fh; public ulong Offset; public uint Whence; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct CopyFileRangeIn
{
    public ulong FhIn;
    public ulong OffIn;
    public ulong NodeIdOut;
    public ulong FhOut;
    public ulong OffOut;
    public ulong Len;
    public ulong Flags;
}
