using System.Runtime.InteropServices;
using PmemFs.Fuse.Kernel;

namespace PmemFs.Fuse.Tests;

/// <summary>Sizes and offsets of the protocol structs against include/uapi/linux/fuse.h (7.45, x86-64; measured with gcc on the 7.38 header plus 7.39-7.45's additions, none of which changed a size).</summary>
public unsafe class ProtocolLayoutTest
{
    [Theory]
    [InlineData(typeof(InHeader), 40)]
    [InlineData(typeof(OutHeader), 16)]
    [InlineData(typeof(InitIn), 64)]
    [InlineData(typeof(InitOut), 64)]
    [InlineData(typeof(Attr), 88)]
    [InlineData(typeof(EntryOut), 128)]
    [InlineData(typeof(AttrOut), 104)]
    [InlineData(typeof(OpenOut), 16)]
    [InlineData(typeof(CreateOut), 144)]
    [InlineData(typeof(WriteIn), 40)]
    [InlineData(typeof(WriteOut), 8)]
    [InlineData(typeof(ReadIn), 40)]
    [InlineData(typeof(GetAttrIn), 16)]
    [InlineData(typeof(StatxIn), 24)]
    [InlineData(typeof(SxTime), 16)]
    [InlineData(typeof(FuseStatx), 256)]
    [InlineData(typeof(StatxOut), 288)]
    [InlineData(typeof(SetAttrIn), 88)]
    [InlineData(typeof(OpenIn), 8)]
    [InlineData(typeof(CreateIn), 16)]
    [InlineData(typeof(MkNodIn), 16)]
    [InlineData(typeof(MkDirIn), 8)]
    [InlineData(typeof(RenameIn), 8)]
    [InlineData(typeof(Rename2In), 16)]
    [InlineData(typeof(LinkIn), 8)]
    [InlineData(typeof(SetXattrIn), 8)]
    [InlineData(typeof(GetXattrIn), 8)]
    [InlineData(typeof(GetXattrOut), 8)]
    [InlineData(typeof(AccessIn), 8)]
    [InlineData(typeof(ReleaseIn), 24)]
    [InlineData(typeof(FlushIn), 24)]
    [InlineData(typeof(FsyncIn), 16)]
    [InlineData(typeof(IoctlIn), 32)]
    [InlineData(typeof(IoctlOut), 16)]
    [InlineData(typeof(PollIn), 24)]
    [InlineData(typeof(PollOut), 8)]
    [InlineData(typeof(FallocateIn), 32)]
    [InlineData(typeof(LseekIn), 24)]
    [InlineData(typeof(LseekOut), 8)]
    [InlineData(typeof(CopyFileRangeIn), 56)]
    [InlineData(typeof(BatchForgetIn), 8)]
    [InlineData(typeof(ForgetIn), 8)]
    [InlineData(typeof(ForgetOne), 16)]
    [InlineData(typeof(InterruptIn), 8)]
    [InlineData(typeof(StatFsOut), 80)]
    [InlineData(typeof(Dirent), 24)]
    [InlineData(typeof(DirentPlus), 152)]
    [InlineData(typeof(NotifyInvalInodeOut), 24)]
    [InlineData(typeof(NotifyInvalEntryOut), 16)]
    [InlineData(typeof(NotifyPollWakeupOut), 8)]
    public void Struct_has_the_size_of_the_header(Type type, int size) => Assert.Equal(size, Marshal.SizeOf(type));

    [Fact]
    public void Fields_sit_where_the_header_puts_them()
    {
        Assert.Equal(20, (int)Marshal.OffsetOf<WriteIn>(nameof(WriteIn.WriteFlags)));
        Assert.Equal(84, (int)Marshal.OffsetOf<Attr>(nameof(Attr.Flags)));
        Assert.Equal(60, (int)Marshal.OffsetOf<Attr>(nameof(Attr.Mode)));
        Assert.Equal(36, (int)Marshal.OffsetOf<InHeader>(nameof(InHeader.TotalExtLen)));
        Assert.Equal(40, (int)Marshal.OffsetOf<EntryOut>(nameof(EntryOut.Attr)));
        Assert.Equal(16, (int)Marshal.OffsetOf<AttrOut>(nameof(AttrOut.Attr)));
        Assert.Equal(32, (int)Marshal.OffsetOf<InitOut>(nameof(InitOut.Flags2)));
        Assert.Equal(36, (int)Marshal.OffsetOf<InitOut>(nameof(InitOut.MaxStackDepth)));   // 7.40, in place of unused[0]
        Assert.Equal(40, (int)Marshal.OffsetOf<InitOut>(nameof(InitOut.RequestTimeout))); // 7.43
        Assert.Equal(68, (int)Marshal.OffsetOf<SetAttrIn>(nameof(SetAttrIn.Mode)));
        Assert.Equal(76, (int)Marshal.OffsetOf<SetAttrIn>(nameof(SetAttrIn.Uid)));
    }

    [Fact]
    public void Init_flags_have_the_header_values()
    {
        Assert.Equal(0x10000000UL, (ulong)InitFlags.HandleKillprivV2);
        Assert.Equal(0x40000000UL, (ulong)InitFlags.InitExt);
        Assert.Equal(0x400000UL, (ulong)InitFlags.MaxPages);
        Assert.Equal(1UL << 41, (ulong)InitFlags.OverIoUring);
        Assert.Equal(53u, (uint)Opcode.CopyFileRange64);
        Assert.Equal(52u, (uint)Opcode.Statx);
    }
}
