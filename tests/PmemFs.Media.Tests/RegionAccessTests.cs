using System.Diagnostics;
using PmemFs.Media.Access;

namespace PmemFs.Media.Tests;

/// <summary>
/// The region is the trust boundary (docs/security.md): who can open it, which kinds of file are
/// ever opened, and that new images are private.
/// </summary>
public sealed class RegionAccessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pmemfs-access-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static RegionAccess WithMode(uint mode, bool acl = false) => new(IsDevice: false, OwnerUid: 0, GroupGid: 0, mode, acl);

    [Theory]
    [InlineData(0x180u /* 0600 */, RegionExposure.Private)]
    [InlineData(0x100u /* 0400 */, RegionExposure.Private)]
    [InlineData(0x1C0u /* 0700 */, RegionExposure.Private)]
    [InlineData(0x1C9u /* 0711: execute alone opens nothing */, RegionExposure.Private)]
    [InlineData(0x1B0u /* 0660 */, RegionExposure.GroupShared)]
    [InlineData(0x1A0u /* 0640 */, RegionExposure.GroupShared)]
    [InlineData(0x190u /* 0620 */, RegionExposure.GroupShared)]
    [InlineData(0x1A4u /* 0644 */, RegionExposure.Exposed)]
    [InlineData(0x182u /* 0602: write alone is enough to change everything */, RegionExposure.Exposed)]
    [InlineData(0x1B6u /* 0666 */, RegionExposure.Exposed)]
    [InlineData(0x004u /* 0004: even with no owner bits */, RegionExposure.Exposed)]
    public void ExposureComesFromTheGroupAndOtherBits(uint mode, RegionExposure expected) =>
        Assert.Equal(expected, WithMode(mode).Exposure);

    [Fact]
    public void AnAclNamingMoreUsersMakesAPrivateLookingModeGroupShared()
    {
        Assert.Equal(RegionExposure.GroupShared, WithMode(0x180, acl: true).Exposure);
        Assert.Contains("ACL", WithMode(0x180, acl: true).WhoCanOpenText, StringComparison.Ordinal);
    }

    [Fact]
    public void MountRefusesAnExposedRegionAndAnotherUsersFileButNotAGroupSharedOne()
    {
        string? exposed = WithMode(0x1A4).MountRefusal("/img", 0);
        Assert.NotNull(exposed);
        Assert.Contains("every user can read it (mode 0644", exposed, StringComparison.Ordinal);
        Assert.Contains("chmod 0600 /img", exposed, StringComparison.Ordinal);
        Assert.Null(WithMode(0x1B0).MountRefusal("/img", 0));
        Assert.Null(WithMode(0x180).MountRefusal("/img", 0));

        string? foreign = (WithMode(0x180) with { OwnerUid = 65534 }).MountRefusal("/img", 0);
        Assert.NotNull(foreign);
        Assert.Contains("uid 65534", foreign, StringComparison.Ordinal);
        Assert.Contains("chown root /img", foreign, StringComparison.Ordinal);
        // A device node belongs to root whoever uses it: only its mode counts.
        Assert.Null((WithMode(0x180) with { OwnerUid = 65534, IsDevice = true }).MountRefusal("/dev/dax0.0", 0));
        Assert.NotNull((WithMode(0x1B6) with { IsDevice = true }).MountRefusal("/dev/dax0.0", 0));
    }

    [Fact]
    public void FixCommandsQuotePathsTheShellWouldSplit()
    {
        string? refusal = WithMode(0x1A4).MountRefusal("/tmp/my image's", 0);
        Assert.Contains("chmod 0600 '/tmp/my image'\\''s'", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void ANewImageIsCreatedPrivate()
    {
        // Under any umask: the mode is set again after the open (the CLI tests run mkfs under umask 000, 022 and 0277).
        string image = PathOf("new.img");
        using (var media = PmemMedia.Create(image, 1L << 20)) Assert.Equal(RegionExposure.Private, media.Access.Exposure);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(image));
    }

    [Fact]
    public void AnExistingImageKeepsItsMode()
    {
        string image = PathOf("old.img");
        File.WriteAllBytes(image, []);
        File.SetUnixFileMode(image, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        using (var media = PmemMedia.Create(image, 1L << 20)) Assert.Equal(RegionExposure.Exposed, media.Access.Exposure);
        Assert.Equal("0644", RegionAccess.OfPath(image).ModeText);
    }

    [Fact]
    public void CreatePrivateNeverFollowsOrReplacesWhatHasTheName()
    {
        string target = PathOf("target");
        File.WriteAllText(target, "precious");
        string link = PathOf("link");
        File.CreateSymbolicLink(link, target);
        var e = Assert.Throws<MediaException>(() => RegionFile.CreatePrivate(link).Dispose());
        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        Assert.Equal("precious", File.ReadAllText(target));

        string dangling = PathOf("dangling");
        File.CreateSymbolicLink(dangling, PathOf("would-be-created"));
        Assert.Throws<MediaException>(() => RegionFile.CreatePrivate(dangling).Dispose());
        Assert.False(File.Exists(PathOf("would-be-created")));
    }

    [Fact]
    public async Task AFifoIsRefusedAtOnceInsteadOfBlockingTheOpen()
    {
        string fifo = PathOf("fifo");
        using (var mkfifo = Process.Start("mkfifo", [fifo])!) await mkfifo.WaitForExitAsync();
        Assert.True(File.Exists(fifo));
        // A plain O_RDONLY open of a FIFO blocks until a writer comes: the task would never end.
        var open = Task.Run(() => Assert.Throws<MediaException>(() => RegionFile.Open(fifo, writable: false).Dispose()));
        var finished = await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(finished == open, "opening a FIFO as a region blocked");
        Assert.Contains("FIFO", (await open).Message, StringComparison.Ordinal);
        Assert.Throws<MediaException>(() => PmemMedia.Open(fifo, readOnly: true));
        Assert.Throws<MediaException>(() => ImageLock.TryAcquire(fifo, exclusive: false, TimeSpan.Zero));
    }

    [Theory]
    [InlineData("/dev/null", "not a device-DAX device")]
    [InlineData("/dev/zero", "not a device-DAX device")]
    [InlineData("/tmp", "is a directory")]
    public void OnlyRegularFilesAndDeviceDaxAreEverOpened(string path, string reason)
    {
        var e = Assert.Throws<MediaException>(() => RegionFile.Open(path, writable: false).Dispose());
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, Assert.Throws<MediaException>(() => RegionFile.Examine(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoFollowRefusesASymlinkThatFollowingAccepts()
    {
        string image = PathOf("img");
        RegionFile.CreatePrivate(image).Dispose();
        string link = PathOf("img-link");
        File.CreateSymbolicLink(link, image);
        RegionFile.Open(link, writable: false).Dispose();
        var e = Assert.Throws<MediaException>(() => RegionFile.Open(link, writable: false, followSymlinks: false).Dispose());
        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void AccessIsReadFromTheFileAndItsAcl()
    {
        string image = PathOf("acl.img");
        RegionFile.CreatePrivate(image).Dispose();
        var plain = RegionAccess.OfPath(image);
        Assert.Equal(RegionExposure.Private, plain.Exposure);
        Assert.Equal("0600", plain.ModeText);
        Assert.Equal("rw-------", plain.ModeSymbols);
        Assert.Equal(Environment.IsPrivilegedProcess ? "root" : Environment.UserName, plain.OwnerName);

        // setfacl -m u:nobody:rw: user::rw-, user:65534:rw-, group::---, mask::rw-, other::---
        const string acl = "0x0200000001000600ffffffff02000600feff000004000000ffffffff10000600ffffffff20000000ffffffff";
        using (var p = Process.Start("setfattr", ["-n", "system.posix_acl_access", "-v", acl, image])!)
        {
            p.WaitForExit();
            Skip.If(p.ExitCode != 0, "no POSIX ACL support where the temp directory lives (the classification is tested above)");
        }
        var withAcl = RegionAccess.OfPath(image);
        Assert.True(withAcl.HasExtendedAcl);
        Assert.Equal(RegionExposure.GroupShared, withAcl.Exposure);
        using var handle = RegionFile.Open(image, writable: false);
        Assert.Equal(withAcl, RegionAccess.Of(handle, image));
    }
}
