using PmemFs.Abi;
using PmemFs.Cli.Commands;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Cli.Tests;

/// <summary>
/// The two sources of `pmemfs rmap` agree: the offline form (the media's rmap table) and the
/// rows the mounted form gets from PMEMFS_IOC_RMAP (the engine's <see cref="FileSystem.ReverseMap"/>,
/// translated as the daemon does), for an image with directories, an xattr, a reflinked copy and
/// a file that shares blocks with itself. Paths aside (the mounted form finds them by walking).
/// </summary>
public sealed class RmapMountedFormTests
{
    private const int Bs = FormatConstants.BlockSize;

    private static byte[] N(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    [Fact]
    public void TheEnginesRowsGiveTheOfflineTableRowForRow()
    {
        var media = new MemoryMedia(64L << 20);
        Mkfs.Format(media, new MkfsOptions());
        var fs = FileSystem.Mount(media);
        var root = FormatConstants.RootIno;
        Assert.Equal(Errno.Ok, fs.MakeDirectory(root, N("d"), 0x1ED, Credentials.Root, out var d));
        Assert.Equal(Errno.Ok, fs.Create(d.Ino, N("a"), 0x81A4, Credentials.Root, out var a));
        Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, new byte[20 * Bs + 7], Credentials.Root, out _));
        Assert.Equal(Errno.Ok, fs.SetXattr(a.Ino, N("user.x"), new byte[100], XattrSetFlags.None));
        Assert.Equal(Errno.Ok, fs.Create(root, N("b"), 0x81A4, Credentials.Root, out var b));
        Assert.Equal(Errno.Ok, fs.CloneRange(a.Ino, 0, b.Ino, 0, 8 * Bs, Credentials.Root, 0, out _));
        Assert.Equal(Errno.Ok, fs.CloneRange(b.Ino, 0, b.Ino, 16 * Bs, 2 * Bs, Credentials.Root, 0, out _));

        var rows = new List<PmemFsRmapEntry>();
        var page = new ReverseMapOwner[3];
        ReverseMapCursor after = default;
        bool more;
        do
        {
            Assert.Equal(Errno.Ok, fs.ReverseMap(0, long.MaxValue, after, page, out int n, out more));
            foreach (var r in page[..n])
                rows.Add(new PmemFsRmapEntry { Physical = (ulong)r.Physical, Length = (ulong)r.Length, Ino = r.Ino, FileOffset = (ulong)r.FileOffset, Refs = r.Refs, Kind = (uint)r.Kind });
            if (n > 0) after = page[n - 1].Key;
        } while (more);
        fs.Dispose();

        var offline = RmapCommand.Read(media, ImageReader.ReadSuperblock(media, "t").Superblock.Geometry);
        var mounted = RmapCommand.FromRows(rows, _ => null);
        Assert.Equal(offline.Owners.Select(o => o with { Path = null }), mounted.Owners);
        Assert.Equal(offline.Refcounts, mounted.Refcounts);
        Assert.Contains(offline.Owners, o => o.Path == "/d/a" && o.Kind == "xattr");
        Assert.Equal(3, offline.Owners.Count(o => o.Refs == 3)); // a, b at 0, b at 16 blocks: the first 2 blocks have 3 owners
    }
}
