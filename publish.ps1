<#
.SYNOPSIS
  Publishes edgernn as one Native AOT executable and packs it for a device.

.DESCRIPTION
  ./publish.ps1                                   # linux-arm64 (Raspberry Pi 4/5), cross-linked from x64 if needed
  ./publish.ps1 -Runtime linux-x64                # x64 with AVX2/FMA/BMI2 compiled in (x86-64-v3: Haswell, Zen and later)
  ./publish.ps1 -Runtime linux-x64 -InstructionSet baseline    # portable x64 for older CPUs (the .NET baseline ISA)

  Output, under artifacts/ (or -Output):
    <name>/edgernn                         the executable (stripped; needs only the C library: System.IO.Ports' native
                                           part is linked in from native/serial-ports), <name> = linux-arm64 | linux-x64 | linux-x64-baseline
    <name>/edgernn.dbg                     its symbols, kept beside it and left out of the archive
    <name>/edgernn.service, edgernn.json   systemd unit and sample config (from deploy/, when present)
    <name>/models/*.safetensors, *.md      bundled models and their cards
    edgernn-<version>-<name>.tar.gz        all of the above but the .dbg, under one top folder
    edgernn-<version>-<name>.tar.gz.sha256 for `sha256sum -c`
    logs/<name>.publish.log                the full dotnet publish output (CI greps it for IL2xxx/IL3xxx)

  Without pwsh:  dotnet run build/run-ps1.cs -- ./publish.ps1 -Runtime linux-x64

  Runs in pwsh and in a runspace hosted through the System.Management.Automation NuGet package, which has only the
  core engine: so this script uses the language, .NET calls and native commands, and no Utility/Management cmdlets.
#>
[CmdletBinding()]
param(
    [ValidateSet('linux-arm64', 'linux-x64')]
    [string] $Runtime = 'linux-arm64',

    # x64 only. 'x86-64-v3' (the default for linux-x64) compiles AVX2/FMA/BMI2 in, with AVX-VNNI and AVX-512 behind
    # run-time checks; the binary refuses to start on CPUs without AVX2. 'baseline' is Native AOT's portable default:
    # no VEX code at all (Native AOT cannot put AVX behind a run-time check, since the compiler may use VEX encoding
    # anywhere once AVX is allowed), so its int8 kernels run SSSE3, 2-3x slower than AVX2 on the products.
    [ValidateSet('', 'baseline', 'x86-64-v3')]
    [string] $InstructionSet = '',

    [string] $Output = '',

    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$root = $PSScriptRoot
if ([string]::IsNullOrEmpty($root)) { throw 'publish.ps1: run it as a script file (its folder is the repository root)' }
if ([string]::IsNullOrEmpty($Output)) { $Output = [System.IO.Path]::Combine($root, 'artifacts') }
$Output = [System.IO.Path]::GetFullPath($Output)
$project = [System.IO.Path]::Combine($root, 'src', 'EdgeRnn.Cli', 'EdgeRnn.Cli.csproj')

function Say([string] $text) { [System.Console]::WriteLine($text) }

function Find-OnPath([string] $name) {
    foreach ($dir in ([System.Environment]::GetEnvironmentVariable('PATH') -split [System.IO.Path]::PathSeparator)) {
        if ([string]::IsNullOrEmpty($dir)) { continue }
        $candidate = [System.IO.Path]::Combine($dir, $name)
        if ([System.IO.File]::Exists($candidate)) { return $candidate }
    }
    return $null
}

function Remove-Tree([string] $path) {
    if ([System.IO.Directory]::Exists($path)) { [System.IO.Directory]::Delete($path, $true) }
}

# Runs a native command, streams its output, returns the lines; throws on a non-zero exit code.
function Invoke-Native([string] $what, [string] $exe, [string[]] $arguments, [switch] $Quiet) {
    $lines = [System.Collections.Generic.List[string]]::new()
    # stderr lines arrive as ErrorRecords; with 'Stop' the first one would end the script before the exit code is known.
    $saved = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        & $exe @arguments 2>&1 | ForEach-Object { $line = "$_"; $lines.Add($line); if (-not $Quiet) { Say $line } }
        $code = $LASTEXITCODE
    }
    finally { $ErrorActionPreference = $saved }
    if ($code -ne 0) { throw "publish.ps1: $what failed (exit code $code): $exe $($arguments -join ' ')" }
    return , $lines
}

# --- what this runtime needs ---------------------------------------------------------------------------------------
if (-not [System.OperatingSystem]::IsLinux()) { throw 'publish.ps1: Native AOT links for the OS it runs on: publish the Linux builds on Linux (or WSL)' }
$hostArch = [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString()   # X64 | Arm64
$targetArch = if ($Runtime -eq 'linux-arm64') { 'Arm64' } else { 'X64' }
$cross = $hostArch -ne $targetArch
if ($Runtime -ne 'linux-x64' -and $InstructionSet -eq 'x86-64-v3') {
    throw "publish.ps1: -InstructionSet $InstructionSet applies to linux-x64 only"
}
if ($cross -and $targetArch -eq 'X64') { throw "publish.ps1: cross-linking to linux-x64 from $hostArch is not set up; publish x64 on an x64 machine" }
if ($InstructionSet -eq '') { $InstructionSet = if ($Runtime -eq 'linux-x64') { 'x86-64-v3' } else { 'baseline' } }
$name = if ($Runtime -eq 'linux-x64' -and $InstructionSet -eq 'baseline') { "$Runtime-baseline" } else { $Runtime }

# Native AOT links through a C compiler driver; clang with lld links either architecture, and for arm64 from x64
# it finds Debian's cross layout by itself (--target=aarch64-linux-gnu is added by the ILCompiler targets):
# crt files and libgcc from gcc-aarch64-linux-gnu (/usr/lib/gcc-cross/aarch64-linux-gnu/N), libc from
# libc6-dev-arm64-cross (/usr/aarch64-linux-gnu/lib). llvm-objcopy (with clang) splits symbols for either arch.
$missing = [System.Collections.Generic.List[string]]::new()
if ($null -eq (Find-OnPath 'dotnet')) { throw 'publish.ps1: dotnet is not on PATH (install the .NET 10 SDK)' }
if ($null -eq (Find-OnPath 'clang')) { $missing.Add('clang') }
if ($null -eq (Find-OnPath 'ld.lld')) { $missing.Add('lld') }
$objcopy = Find-OnPath 'llvm-objcopy'
if ($null -eq $objcopy -and $targetArch -eq 'Arm64' -and $cross) { $objcopy = Find-OnPath 'aarch64-linux-gnu-objcopy' }
if ($null -eq $objcopy -and -not $cross) { $objcopy = Find-OnPath 'objcopy' }
if ($null -eq $objcopy) { $missing.Add('llvm') }
if ($cross) {
    $gccCross = '/usr/lib/gcc-cross/aarch64-linux-gnu'
    $haveCrt = $false
    if ([System.IO.Directory]::Exists($gccCross)) {
        foreach ($d in [System.IO.Directory]::GetDirectories($gccCross)) {
            if ([System.IO.File]::Exists([System.IO.Path]::Combine($d, 'crtbeginS.o'))) { $haveCrt = $true }
        }
    }
    if (-not $haveCrt) { $missing.Add('gcc-aarch64-linux-gnu') }
    if (-not [System.IO.File]::Exists('/usr/aarch64-linux-gnu/lib/Scrt1.o')) { $missing.Add('libc6-dev-arm64-cross') }
}
if ($missing.Count -gt 0) {
    throw "publish.ps1: missing prerequisites for $Runtime. Install them with:`n  sudo apt-get install -y $($missing -join ' ')"
}

# --- version and commit --------------------------------------------------------------------------------------------
$version = (Invoke-Native 'reading the version' 'dotnet' @('msbuild', $project, '-nologo', '-getProperty:Version') -Quiet)[-1].Trim()
$commit = $null
if ($null -ne (Find-OnPath 'git')) {
    $saved = $ErrorActionPreference; $ErrorActionPreference = 'Continue'
    try { $rev = & git -C $root rev-parse HEAD 2>$null; if ($LASTEXITCODE -eq 0) { $commit = "$rev".Trim() } }
    finally { $ErrorActionPreference = $saved }
}
Say "== publishing edgernn $version ($(if ($commit) { $commit } else { 'commit unknown' })) for $name"

# --- publish -------------------------------------------------------------------------------------------------------
# Own bin/obj tree per flavour (--artifacts-path): the x64 and x64-v3 builds never share an object file, and a publish
# never rewrites the solution's bin/ folders under a test run that has them loaded.
$build = [System.IO.Path]::Combine($Output, 'build', $name)
$publishDir = [System.IO.Path]::Combine($build, 'out')
Remove-Tree $publishDir
# A release is compiled from scratch, so every compiler and ILC warning is in this run's log; the restore results
# (files directly under obj/<project>/) are kept, so only the first publish pays for the NuGet round trips.
Remove-Tree ([System.IO.Path]::Combine($build, 'bin'))
$objRoot = [System.IO.Path]::Combine($build, 'obj')
if ([System.IO.Directory]::Exists($objRoot)) {
    foreach ($projectObj in [System.IO.Directory]::GetDirectories($objRoot)) {
        foreach ($pivot in [System.IO.Directory]::GetDirectories($projectObj)) { Remove-Tree $pivot }
    }
}
$arguments = @(
    'publish', $project, '-nologo',
    '-c', $Configuration, '-r', $Runtime,
    '--artifacts-path', $build, '-o', $publishDir,
    '-p:PublishAot=true', '-p:InvariantGlobalization=true', '-p:StripSymbols=true',
    '-p:LinkerFlavor=lld', "-p:ObjCopyName=$objcopy",
    '-nodeReuse:false'   # no MSBuild nodes left running after a CI publish
)
if ($InstructionSet -ne 'baseline') { $arguments += "-p:IlcInstructionSet=$InstructionSet" }
if ($commit) { $arguments += "-p:SourceRevisionId=$commit" }
$log = Invoke-Native "dotnet publish for $name" 'dotnet' $arguments

$logDir = [System.IO.Path]::Combine($Output, 'logs')
$null = [System.IO.Directory]::CreateDirectory($logDir)
$logFile = [System.IO.Path]::Combine($logDir, "$name.publish.log")
[System.IO.File]::WriteAllLines($logFile, $log)
# TreatWarningsAsErrors already fails the build on these; this catches a project that turns that off.
$trimWarnings = @($log | Where-Object { $_ -match '\b(IL2\d{3}|IL3\d{3})\b' })
if ($trimWarnings.Count -gt 0) {
    throw "publish.ps1: $($trimWarnings.Count) trimming/AOT warnings (IL2xxx/IL3xxx) in $logFile, first: $($trimWarnings[0])"
}

# --- stage ---------------------------------------------------------------------------------------------------------
$stage = [System.IO.Path]::Combine($Output, $name)
Remove-Tree $stage
$null = [System.IO.Directory]::CreateDirectory($stage)

function Copy-Into([string] $source, [string] $targetDir) {
    $null = [System.IO.Directory]::CreateDirectory($targetDir)
    $target = [System.IO.Path]::Combine($targetDir, [System.IO.Path]::GetFileName($source))
    [System.IO.File]::Copy($source, $target, $true)
    return $target
}

$exe = [System.IO.Path]::Combine($publishDir, 'edgernn')
if (-not [System.IO.File]::Exists($exe)) { throw "publish.ps1: dotnet publish reported success but $exe is missing" }
$null = Copy-Into $exe $stage
$dbg = [System.IO.Path]::Combine($publishDir, 'edgernn.dbg')
if ([System.IO.File]::Exists($dbg)) { $null = Copy-Into $dbg $stage }
# One file to deploy: System.IO.Ports' native part is linked in (native/serial-ports), so a shared object left in the
# publish folder means something would have to be copied beside the binary on the device.
$stray = @([System.IO.Directory]::GetFiles($publishDir, '*.so'))
if ($stray.Count -gt 0) {
    throw "publish.ps1: the publish left shared objects beside edgernn ($($stray -join ', ')); the executable must stand alone"
}

$deploy = [System.IO.Path]::Combine($root, 'deploy')
foreach ($f in @('edgernn.service', 'edgernn.json')) {
    $p = [System.IO.Path]::Combine($deploy, $f)
    if ([System.IO.File]::Exists($p)) { $null = Copy-Into $p $stage }
}
$models = [System.IO.Path]::Combine($root, 'models')
if ([System.IO.Directory]::Exists($models)) {
    foreach ($pattern in @('*.safetensors', '*.md')) {
        foreach ($m in [System.IO.Directory]::GetFiles($models, $pattern)) {
            $null = Copy-Into $m ([System.IO.Path]::Combine($stage, 'models'))
        }
    }
}

# --- archive and checksum (System.Formats.Tar + GZipStream: no tar binary assumed) -------------------------------
$null = [System.Reflection.Assembly]::Load('System.Formats.Tar')
$null = [System.Reflection.Assembly]::Load('System.IO.Compression')
$null = [System.Reflection.Assembly]::Load('System.Security.Cryptography')

$top = "edgernn-$version-$name"
$archive = [System.IO.Path]::Combine($Output, "$top.tar.gz")
$stamp = [System.DateTimeOffset]::UtcNow
$fileStream = [System.IO.File]::Create($archive)
try {
    $gzip = [System.IO.Compression.GZipStream]::new($fileStream, [System.IO.Compression.CompressionLevel]::Optimal)
    try {
        $tar = [System.Formats.Tar.TarWriter]::new($gzip, [System.Formats.Tar.TarEntryFormat]::Pax, $false)
        try {
            $dirEntry = [System.Formats.Tar.PaxTarEntry]::new([System.Formats.Tar.TarEntryType]::Directory, "$top/")
            $dirEntry.Mode = [System.IO.UnixFileMode]493   # 0755
            $dirEntry.ModificationTime = $stamp
            $tar.WriteEntry($dirEntry)
            $files = [System.IO.Directory]::GetFiles($stage, '*', [System.IO.SearchOption]::AllDirectories)
            [System.Array]::Sort($files, [System.StringComparer]::Ordinal)
            $dirsWritten = [System.Collections.Generic.HashSet[string]]::new()
            foreach ($f in $files) {
                $rel = [System.IO.Path]::GetRelativePath($stage, $f).Replace('\', '/')
                if ($rel -eq 'edgernn.dbg') { continue }
                $parent = [System.IO.Path]::GetDirectoryName($rel)
                if (-not [string]::IsNullOrEmpty($parent) -and $dirsWritten.Add($parent)) {
                    $d = [System.Formats.Tar.PaxTarEntry]::new([System.Formats.Tar.TarEntryType]::Directory, "$top/$parent/")
                    $d.Mode = [System.IO.UnixFileMode]493
                    $d.ModificationTime = $stamp
                    $tar.WriteEntry($d)
                }
                $entry = [System.Formats.Tar.PaxTarEntry]::new([System.Formats.Tar.TarEntryType]::RegularFile, "$top/$rel")
                $executable = $rel -eq 'edgernn'
                $entry.Mode = if ($executable) { [System.IO.UnixFileMode]493 } else { [System.IO.UnixFileMode]420 }   # 0755 / 0644
                $entry.ModificationTime = $stamp
                $data = [System.IO.File]::OpenRead($f)
                try { $entry.DataStream = $data; $tar.WriteEntry($entry) }
                finally { $data.Dispose() }
            }
        }
        finally { $tar.Dispose() }
    }
    finally { $gzip.Dispose() }
}
finally { $fileStream.Dispose() }

$hashStream = [System.IO.File]::OpenRead($archive)
try { $hash = [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($hashStream)).ToLowerInvariant() }
finally { $hashStream.Dispose() }
# sha256sum's text format: hash, two spaces, file name (relative, so `cd artifacts && sha256sum -c` works).
[System.IO.File]::WriteAllText("$archive.sha256", "$hash  $top.tar.gz`n")

$size = ([System.IO.FileInfo]::new([System.IO.Path]::Combine($stage, 'edgernn'))).Length
Say ("== {0}: edgernn {1:N1} MB; {2} ({3:N1} MB); sha256 {4}" -f $name, ($size / 1MB), $archive, (([System.IO.FileInfo]::new($archive)).Length / 1MB), $hash)
