using System.Diagnostics;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Real programs on a mounted PmemFs: `cp -a` of a generated tree, a `tar` round trip, git,
/// each checked again after an unmount and remount; fsck clean at the end.
/// </summary>
public class RealToolsTest(ITestOutputHelper output)
{
    [SkippableFact]
    public void CpTarAndGitWorkAndSurviveARemount()
    {
        using var fs = new MountedFileSystem();
        string work = Path.Combine(fs.Root, "work");
        string src = Path.Combine(work, "src");
        var sw = Stopwatch.StartNew();
        Tree.Generate(src, files: 3000, seed: 42);
        var source = Tree.Snapshot(src);
        output.WriteLine($"generated {source.Count} entries in {sw.Elapsed.TotalSeconds:0.0} s");

        // cp -a into the mount.
        string copy = fs["copy"];
        sw.Restart();
        Proc.Check("cp", ["-a", src, copy], TimeSpan.FromSeconds(120));
        output.WriteLine($"cp -a: {sw.Elapsed.TotalSeconds:0.0} s");
        // Differences are collected, not asserted at once, so that one problem does not hide the others.
        var failures = new List<string>();
        void Expect(string what, List<string> problems)
        {
            if (problems.Count > 0) failures.Add(what + ": " + Tree.Describe(problems));
        }
        Expect("cp -a into the mount", Tree.Compare(source, Tree.Snapshot(copy), nanoseconds: true));

        // git inside the mount.
        bool git = Proc.Which("git") is not null;
        string repo = fs["repo"];
        var gitEnv = new Dictionary<string, string>
        {
            ["HOME"] = work, ["GIT_CONFIG_NOSYSTEM"] = "1", ["GIT_AUTHOR_NAME"] = "t", ["GIT_AUTHOR_EMAIL"] = "t@example.org",
            ["GIT_COMMITTER_NAME"] = "t", ["GIT_COMMITTER_EMAIL"] = "t@example.org", ["GIT_AUTHOR_DATE"] = "2020-01-01T00:00:00Z",
            ["GIT_COMMITTER_DATE"] = "2020-01-01T00:00:00Z",
        };
        ProcResult Git(params string[] args) => Proc.Check("git", ["-C", repo, .. args], TimeSpan.FromSeconds(60), environment: gitEnv);
        if (git)
        {
            sw.Restart();
            Proc.Check("git", ["init", "-q", "-b", "main", repo], environment: gitEnv);
            Proc.Check("cp", ["-r", .. Directory.EnumerateDirectories(src).Order(StringComparer.Ordinal).Take(2), repo]);
            File.WriteAllText(Path.Combine(repo, "README"), "first\n");
            Git("add", "-A");
            Git("commit", "-q", "-m", "first");
            File.AppendAllText(Path.Combine(repo, "README"), "second\n");
            Proc.Check("mv", Directory.EnumerateDirectories(repo).Where(x => !x.EndsWith("/.git", StringComparison.Ordinal)).Order(StringComparer.Ordinal).First(),
                Path.Combine(repo, "moved"));
            Git("add", "-A");
            Git("commit", "-q", "-m", "second");
            Git("gc", "-q");
            File.AppendAllText(Path.Combine(repo, "README"), "third\n");
            Git("commit", "-q", "-a", "-m", "third");
            CheckRepo("before remount");
            output.WriteLine($"git: {sw.Elapsed.TotalSeconds:0.0} s");
        }
        else output.WriteLine("git is not installed: the git part is left out");

        // Unmount, remount: everything again.
        fs.Remount();
        Expect("cp -a copy after a remount", Tree.Compare(source, Tree.Snapshot(copy), nanoseconds: true));
        if (git) CheckRepo("after remount");

        // tar from the mount, extract elsewhere, compare.
        sw.Restart();
        string tarball = Path.Combine(work, "copy.tar");
        string extracted = Path.Combine(work, "extracted");
        Directory.CreateDirectory(extracted);
        Proc.Check("tar", ["-C", fs.Path, "--xattrs", "-cf", tarball, "copy"], TimeSpan.FromSeconds(120));
        Proc.Check("tar", ["-C", extracted, "--xattrs", "--xattrs-include=user.*", "-xpf", tarball], TimeSpan.FromSeconds(120));
        Expect("tar from the mount, extracted elsewhere", Tree.Compare(source, Tree.Snapshot(Path.Combine(extracted, "copy")), nanoseconds: false));
        // and tar into the mount.
        string intoMount = fs["untarred"];
        Directory.CreateDirectory(intoMount);
        Proc.Check("tar", ["-C", intoMount, "--xattrs", "--xattrs-include=user.*", "-xpf", tarball], TimeSpan.FromSeconds(120));
        Expect("tar extracted into the mount", Tree.Compare(source, Tree.Snapshot(Path.Combine(intoMount, "copy")), nanoseconds: false));
        output.WriteLine($"tar both ways: {sw.Elapsed.TotalSeconds:0.0} s");

        // rm -r of one tree, then fsck clean.
        Proc.Check("rm", ["-rf", intoMount], TimeSpan.FromSeconds(60));
        Assert.False(Directory.Exists(intoMount));
        fs.Unmount();
        var fsck = fs.Fsck();
        if (fsck.ExitCode != 0) failures.Add("fsck after the real tools is not clean:\n" + fsck);
        Assert.True(failures.Count == 0, string.Join("\n\n", failures) + fs.LogTail());

        void CheckRepo(string when)
        {
            var f = Proc.Run("git", ["-C", repo, "fsck", "--full", "--strict"], environment: gitEnv);
            Assert.True(f.Ok && !(f.Out + f.Err).Split('\n').Any(l => l.StartsWith("error", StringComparison.Ordinal)
                || l.StartsWith("missing", StringComparison.Ordinal) || l.StartsWith("broken", StringComparison.Ordinal)), $"git fsck {when}:\n{f}");
            var log = Git("log", "--format=%s");
            Assert.Equal("third\nsecond\nfirst\n", log.Out);
            var status = Git("status", "--porcelain");
            Assert.True(status.Out.Length == 0, $"git status {when} is not clean:\n{status}");
            Assert.Equal("first\nsecond\nthird\n", File.ReadAllText(Path.Combine(repo, "README")));
        }
    }
}
