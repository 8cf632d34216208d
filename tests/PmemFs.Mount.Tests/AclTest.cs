using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// POSIX ACLs through a real mount, against a tmpfs directory as the reference: one shell
/// scenario (setfacl/getfacl, chmod moving the mask, a named entry granting and denying the
/// unprivileged user, default ACL inheritance with the umask ignored, setfacl -b, cp -a, tar
/// --acls) must print exactly the same on both; on PmemFs the ACLs then survive a remount.
/// Both FUSE transports. fsck clean at the end (the fixture).
/// </summary>
public class AclTest(ITestOutputHelper output)
{
    /// <summary>Runs in the directory given as $1; prints only what must not differ between file systems.</summary>
    private const string Scenario = """
        set -u
        cd "$1" || exit 1
        umask 022
        as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- /bin/sh -c "cd '$1' && $2" 2>&1 | sed "s|$1/||g"; }
        acl() { getfacl -n "$@" 2>&1; }
        echo "== set, chmod"
        touch f; setfacl -m u:65534:rwx f; acl f; stat -c '%A' f
        chmod 640 f; acl f; stat -c '%A' f
        echo "== access by a named entry"
        echo data > g; chmod 600 g
        as_nobody "$1" "cat g"
        setfacl -m u:65534:r g; as_nobody "$1" "cat g"; as_nobody "$1" "echo x >> g"
        chmod 600 g; as_nobody "$1" "cat g"
        setfacl -m u:65534:rw g; as_nobody "$1" "echo more >> g; cat g"
        echo "== inheritance"
        mkdir d; setfacl -d -m u:65534:rx,g::rwx,o::- d
        (umask 077; touch d/f; mkdir d/s; mkfifo d/p; ln -s f d/l)
        stat -c '%A %n' d/f d/s d/p d/l; acl d/f d/s d/p
        (umask 027; touch n; mkdir nd); stat -c '%A %n' n nd
        echo "== setfacl -b, -k"
        setfacl -b d/f; acl d/f; stat -c '%A' d/f
        setfacl -k d/s; acl d/s
        echo "== misuse"
        setfattr -n system.posix_acl_default -v 0x0200000001000600ffffffff04000400ffffffff20000400ffffffff f 2>&1
        setfattr -n system.posix_acl_access -v 0x0200000001000600ffffffff20000400ffffffff f 2>&1
        echo "== cp -a, tar --acls"
        cp -a f f2; acl f2
        tar --acls -cf ../acl.tar d && mkdir x && tar --acls -xf ../acl.tar -C x && acl x/d x/d/f; rm -f ../acl.tar
        """;

    [SkippableTheory]
    [InlineData("")]
    [InlineData("fuse_transport=libfuse")]
    public void AclsBehaveAsOnTmpfsAndSurviveARemount(string options)
    {
        PmemfsEnvironment.SkipUnlessMountable();
        foreach (var tool in new[] { "setfacl", "getfacl", "setpriv", "setfattr", "tar" })
            Skip.If(Proc.Which(tool) is null, $"{tool} is not installed (scripts/install-deps.sh installs the acl package)");
        using var fs = new MountedFileSystem(options: options);
        File.SetUnixFileMode(fs.Root, (UnixFileMode)0x1ED); // the unprivileged user must reach both directories
        string reference = Path.Combine(fs.Root, "tmpfs");
        Directory.CreateDirectory(reference);
        Proc.Check("mount", "-t", "tmpfs", "-o", "size=16M,mode=0755", "tmpfs", reference);
        try
        {
            string onTmpfs = Run(Path.Combine(reference, "t"));
            string onPmemfs = Run(fs["t"]);
            output.WriteLine(onPmemfs);
            // The reference is not vacuous: ACLs were set, and the named entry let the user in.
            Assert.Contains("user:65534:rwx", onTmpfs);
            Assert.Contains("data\nmore\n", onTmpfs);
            Assert.Equal(onTmpfs, onPmemfs);

            string before = Proc.Check("getfacl", "-n", "-R", "-p", fs["t"]).Out;
            fs.Unmount();
            fs.Mount();
            Assert.Equal(before, Proc.Check("getfacl", "-n", "-R", "-p", fs["t"]).Out);
        }
        finally { Proc.Run("umount", reference); }
    }

    private static string Run(string dir)
    {
        Directory.CreateDirectory(dir);
        var r = Proc.Run("bash", ["-c", Scenario, "scenario", dir]);
        Assert.True(r.Err.Length == 0, r.ToString());
        return r.Out.Replace(dir, "DIR");
    }
}
