using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.Check.Tests;

/// <summary>
/// fsck and POSIX ACLs: ACLs the engine stored pass; a damaged ACL inside an intact xattr blob (a
/// value that does not decode, a default ACL on a file, an access ACL that disagrees with the
/// mode) is a finding on its inode, never a crash.
/// </summary>
public sealed class AclCheckTests : IDisposable
{
    private const uint Any = DiskPosixAcl.UndefinedId;
    private readonly TestImage _img = new();
    private readonly ulong _file, _dir;

    public AclCheckTests()
    {
        _file = _img.File(TestImage.Root, "f");
        _dir = _img.Dir(TestImage.Root, "d");
        _img.Do(_img.Fs!.SetXattr(_file, DiskPosixAcl.AccessName, Acl(7, 6, 4, 5, 0), XattrSetFlags.None));
        _img.Do(_img.Fs!.SetXattr(_dir, DiskPosixAcl.DefaultName, Acl(7, 7, 5, 7, 5), XattrSetFlags.None));
        _img.Do(_img.Fs!.Create(_dir, TestImage.N("inherits"), TestImage.FileMode, Credentials.Root, out _));
        _img.Unmount();
    }

    public void Dispose() => _img.Dispose();

    /// <summary>user::U user:1000:N group::G mask::M other::O</summary>
    private static byte[] Acl(int u, int n, int g, int m, int o) => DiskPosixAcl.Encode(
    [
        new AclEntry(AclTag.UserObj, (ushort)u), new AclEntry(AclTag.User, (ushort)n, 1000), new AclEntry(AclTag.GroupObj, (ushort)g),
        new AclEntry(AclTag.Mask, (ushort)m), new AclEntry(AclTag.Other, (ushort)o),
    ]);


    /// <summary>Replaces an inode's xattr set, resealed in place: the checksum is right, the content wrong.</summary>
    private void RewriteXattrs(ulong ino, List<KeyValuePair<byte[], byte[]>> xattrs)
    {
        var rec = _img.ReadInode(ino);
        int len = DiskXattrBlob.EncodedLength(xattrs);
        Assert.True(len <= rec.XattrBlocks * FormatConstants.BlockSize);
        DiskXattrBlob.Seal(xattrs, _img.Media.RawBytes(rec.XattrBlock * FormatConstants.BlockSize, (int)rec.XattrBlocks * FormatConstants.BlockSize));
        _img.WriteInode(rec with { XattrLength = (uint)len });
    }

    [Fact]
    public void AclsTheEngineStoredAreClean() => ReportAssert.Clean(_img.Check());

    [Fact]
    public void AnAclThatDoesNotDecodeIsAFinding()
    {
        // No GROUP_OBJ.
        var bad = DiskPosixAcl.Encode([new AclEntry(AclTag.UserObj, 7), new AclEntry(AclTag.Other, 5)]);
        RewriteXattrs(_file, [new(DiskPosixAcl.AccessName.ToArray(), bad)]);
        ReportAssert.Has(_img.Check(), $"inode {_file}", "access ACL is not a valid POSIX ACL");
    }

    [Fact]
    public void AnAclOfAnotherVersionIsAFinding()
    {
        var bad = Acl(7, 6, 4, 5, 0);
        bad[0] = 3;
        RewriteXattrs(_dir, [new(DiskPosixAcl.DefaultName.ToArray(), bad)]);
        ReportAssert.Has(_img.Check(), $"inode {_dir}", "default ACL is not a valid POSIX ACL (not version 2)");
    }

    [Fact]
    public void ADefaultAclOnAFileIsAFinding()
    {
        RewriteXattrs(_file, [new(DiskPosixAcl.AccessName.ToArray(), Acl(7, 6, 4, 5, 0)), new(DiskPosixAcl.DefaultName.ToArray(), Acl(7, 6, 4, 5, 0))]);
        ReportAssert.Has(_img.Check(), $"inode {_file}", "a default ACL on a non-directory");
    }

    [Fact]
    public void AnAccessAclThatDisagreesWithTheModeIsAFinding()
    {
        var rec = _img.ReadInode(_file);
        _img.WriteInode(rec with { Mode = (rec.Mode & ~0x1FFu) | 0x1ED }); // 0755, the ACL says 0750
        ReportAssert.Has(_img.Check(), $"inode {_file}", "access ACL implies mode 750, the inode says 755");
    }
}
