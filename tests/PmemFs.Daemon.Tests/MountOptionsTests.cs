using PmemFs.Engine;
using PmemFs.Daemon;

namespace PmemFs.Daemon.Tests;

public sealed class MountOptionsTests
{
    [Fact]
    public void DefaultsAreReadWriteRelatimeDaxInodeOneThread()
    {
        var o = MountOptions.Parse([]);
        Assert.False(o.ReadOnly);
        Assert.False(o.NoAtime);
        Assert.Equal(DaxMode.Inode, o.Dax);
        Assert.Equal(1, o.Threads);
        Assert.Empty(o.FuseOptions);
    }

    [Fact]
    public void OwnOptionsAreConsumedAndKernelOnesPassedOn()
    {
        var o = MountOptions.Parse(["ro,noatime,dax=always", "threads=2,allow_other,fsname=/dev/shm/x.img,nosuid"]);
        Assert.True(o.ReadOnly);
        Assert.True(o.NoAtime);
        Assert.Equal(DaxMode.Always, o.Dax);
        Assert.Equal(2, o.Threads);
        Assert.Equal(["ro", "noatime", "allow_other", "fsname=/dev/shm/x.img", "nosuid"], o.FuseOptions);
    }

    [Theory]
    [InlineData("", 45_000)]
    [InlineData("lease_break=0", 0)]
    [InlineData("lease_break=2", 2_000)]
    [InlineData("lease_break=0.25", 250)]
    [InlineData("lease_break=3600", 3_600_000)]
    public void TheLeaseBreakTimeIsSecondsAndDefaultsToTheKernels45(string list, int milliseconds)
    {
        var o = MountOptions.Parse([list]);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), o.LeaseBreakTime);
        Assert.Empty(o.FuseOptions); // the daemon's own: never passed to libfuse
    }

    [Fact]
    public void TheLastOfRoAndRwWins()
    {
        Assert.False(MountOptions.Parse(["ro,rw"]).ReadOnly);
        Assert.True(MountOptions.Parse(["rw", "ro"]).ReadOnly);
    }

    [Theory]
    [InlineData("defaults,auto,nofail,_netdev,x-systemd.automount,relatime,user,comment=x")]
    [InlineData("dev,suid")]
    [InlineData("nodiratime,relatime,strictatime,lazytime,diratime")]
    [InlineData(" noatime , dax=never ")]
    public void WhatMountAndFstabAddIsAccepted(string list)
    {
        var o = MountOptions.Parse([list]);
        // Nothing libfuse 3.14 refuses may reach it (it refuses nodiratime: FUSE-FACTS).
        Assert.DoesNotContain(o.FuseOptions, f => f.StartsWith("x-", StringComparison.Ordinal) || f is "defaults" or "relatime" or "nodiratime" or "lazytime");
    }

    [Fact]
    public void FuseTransportIsChosenByOptionAndNotPassedToLibfuse()
    {
        Assert.Equal(MountOptions.DefaultTransport, MountOptions.Parse([]).Transport);
        var o = MountOptions.Parse(["rw,fuse_transport=kernel"]);
        Assert.Equal(PmemFs.Fuse.FuseTransport.Kernel, o.Transport);
        Assert.DoesNotContain(o.FuseOptions, f => f.StartsWith("fuse_transport", StringComparison.Ordinal));
        Assert.Equal(PmemFs.Fuse.FuseTransport.LibFuse, MountOptions.Parse(["fuse_transport=kernel", "fuse_transport=libfuse"]).Transport);
    }

    [Fact]
    public void NosubtypeIsOursAndOnlyPmemfsIsASubtype()
    {
        Assert.False(MountOptions.Parse([]).NoSubtype);
        var o = MountOptions.Parse(["nosubtype,allow_other"]);
        Assert.True(o.NoSubtype);
        Assert.Equal(["allow_other"], o.FuseOptions);
        // subtype=pmemfs says the default again (as an fstab line may); it is never passed twice.
        o = MountOptions.Parse(["nosubtype", "subtype=pmemfs"]);
        Assert.False(o.NoSubtype);
        Assert.Empty(o.FuseOptions);
    }

    [Theory]
    [InlineData("subtype=other", "a PmemFs mount is of type fuse.pmemfs, or plain fuse with -o nosubtype")]
    [InlineData("subtype=", "a PmemFs mount is of type fuse.pmemfs, or plain fuse with -o nosubtype")]
    [InlineData("bogus", "unknown mount option 'bogus'")]
    [InlineData("dax=sometimes", "dax=inode, dax=always or dax=never")]
    [InlineData("threads=0", "threads must be 1..64")]
    [InlineData("threads=many", "threads must be 1..64")]
    [InlineData("writeback_cache", "unknown mount option 'writeback_cache'")]
    [InlineData("fuse_transport=uring", "use fuse_transport=kernel or fuse_transport=libfuse")]
    [InlineData("lease_break=-1", "lease_break is a number of seconds from 0 to 3600")]
    [InlineData("lease_break=3601", "lease_break is a number of seconds from 0 to 3600")]
    [InlineData("lease_break=soon", "lease_break is a number of seconds from 0 to 3600")]
    [InlineData("lease_break=", "lease_break is a number of seconds from 0 to 3600")]
    public void BadOptionsAreRefusedWithTheirName(string list, string message)
    {
        var e = Assert.Throws<FormatException>(() => MountOptions.Parse([list]));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/mnt/pmemfs", "mnt-pmemfs")]
    [InlineData("/mnt/pmemfs/", "mnt-pmemfs")]
    [InlineData("/", "-")]
    [InlineData("/tmp/a/b/c", "tmp-a-b-c")]
    public void RuntimeFilesAreNamedAfterTheMountpoint(string mountpoint, string name) =>
        Assert.Equal(name, RuntimePaths.NameOf(mountpoint));

    [Fact]
    public void TheNativeStructsHaveTheSizesLibfuseExpects() => PmemFs.Fuse.Native.StructLayout.Verify();

    [Fact]
    public void TheMountTableListsTheRootFileSystem() =>
        Assert.Contains(MountTable.Read(), m => m.Mountpoint == "/");
}
