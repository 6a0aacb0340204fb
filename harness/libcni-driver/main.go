// libcni-driver performs one command of cni-conform (ADD, CHECK, DEL, GC or STATUS on a network
// configuration list) through libcni, the library containerd, CRI-O, Multus and cnitool run
// plugins through. It lets libcni decide everything a runtime decides (which binary, in which
// order, with which environment and stdin, what is cached, what prevResult is, what is refused)
// but does not start plugins itself: its invoke.Exec hands each plugin execution back to
// cni-conform, which runs it in the sandbox's node namespace with its own timeout and records it
// exactly like the executions of its own runtime. That is what makes the two runtimes'
// executions comparable record for record.
//
// Protocol (one JSON object per line):
//
//	cni-conform -> driver, first line: the request (type request below)
//	driver -> cni-conform: {"exec": {...}} for each plugin execution libcni asks for, answered by
//	                      one line {"stdoutHex": ..., "stderrHex": ..., "exitCode": n} or
//	                      {"startError": "..."} when the plugin could not be started
//	driver -> cni-conform, last line: {"done": {"error": "...", "result": {...}}}
//
// `libcni-driver --version` prints {"libcni": ..., "debianPackage": ..., "go": ...}; both
// libcni figures are set at build time by ci/libcni-build from the Debian package used.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Set by ci/libcni-build with -ldflags -X.
var (
	libcniVersion = "unknown"
	debianPackage = "unknown"
)

type request struct {
	Command        string                 `json:"command"`
	Conflist       json.RawMessage        `json:"conflist"`
	CniPath        []string               `json:"cniPath"`
	CacheDir       string                 `json:"cacheDir"`
	ContainerID    string                 `json:"containerId"`
	NetNS          string                 `json:"netns"`
	IfName         string                 `json:"ifname"`
	Args           [][2]string            `json:"args"`
	CapabilityArgs map[string]interface{} `json:"capabilityArgs"`
	// nil: GC without arguments (every cached attachment is stale).
	ValidAttachments *[]types.GCAttachment `json:"validAttachments"`
}

type execRequest struct {
	Path string   `json:"path"`
	Env  []string `json:"env"`
	// Bytes travel as hex: exact, and trivial on both sides.
	Stdin string `json:"stdinHex"`
}

type execReply struct {
	Stdout     string `json:"stdoutHex"`
	Stderr     string `json:"stderrHex"`
	ExitCode   int    `json:"exitCode"`
	StartError string `json:"startError"`
}

type done struct {
	Error  string       `json:"error,omitempty"`
	Result types.Result `json:"result,omitempty"`
}

// brokerExec is libcni's invoke.Exec with the process start delegated to cni-conform. Finding
// plugins and decoding VERSION answers stay libcni's own.
type brokerExec struct {
	in  *bufio.Reader
	out *json.Encoder
	version.PluginDecoder
}

func (b *brokerExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

func (b *brokerExec) ExecPlugin(_ context.Context, path string, stdin []byte, env []string) ([]byte, error) {
	if err := b.out.Encode(map[string]execRequest{"exec": {Path: path, Env: env, Stdin: hex.EncodeToString(stdin)}}); err != nil {
		return nil, err
	}
	line, err := b.in.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("libcni-driver: no answer from cni-conform for %s: %w", path, err)
	}
	var reply execReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return nil, fmt.Errorf("libcni-driver: bad answer from cni-conform: %w", err)
	}
	if reply.StartError != "" {
		return nil, fmt.Errorf("%s", reply.StartError)
	}
	stdout, err := hex.DecodeString(reply.Stdout)
	if err != nil {
		return nil, fmt.Errorf("libcni-driver: bad stdout from cni-conform: %w", err)
	}
	stderr, err := hex.DecodeString(reply.Stderr)
	if err != nil {
		return nil, fmt.Errorf("libcni-driver: bad stderr from cni-conform: %w", err)
	}
	if reply.ExitCode != 0 {
		return nil, pluginErr(reply.ExitCode, stdout, stderr)
	}
	return stdout, nil
}

// pluginErr is invoke.RawExec's pluginErr (unexported there): a failed plugin's error is its
// stdout parsed as a CNI error, else a message quoting its stderr.
func pluginErr(code int, stdout, stderr []byte) error {
	emsg := types.Error{}
	if len(stdout) == 0 {
		if len(stderr) == 0 {
			emsg.Msg = fmt.Sprintf("netplugin failed with no error message: exit status %d", code)
		} else {
			emsg.Msg = fmt.Sprintf("netplugin failed: %q", string(stderr))
		}
	} else if perr := json.Unmarshal(stdout, &emsg); perr != nil {
		emsg.Msg = fmt.Sprintf("netplugin failed but error parsing its diagnostic message %q: %v", string(stdout), perr)
	}
	return &emsg
}

func perform(ctx context.Context, cni *libcni.CNIConfig, req *request) (types.Result, error) {
	list, err := libcni.ConfListFromBytes(req.Conflist)
	if err != nil {
		return nil, err
	}
	rt := &libcni.RuntimeConf{
		ContainerID:    req.ContainerID,
		NetNS:          req.NetNS,
		IfName:         req.IfName,
		Args:           req.Args,
		CapabilityArgs: req.CapabilityArgs,
	}
	switch req.Command {
	case "ADD":
		return cni.AddNetworkList(ctx, list, rt)
	case "CHECK":
		return nil, cni.CheckNetworkList(ctx, list, rt)
	case "DEL":
		return nil, cni.DelNetworkList(ctx, list, rt)
	case "GC":
		var args *libcni.GCArgs
		if req.ValidAttachments != nil {
			args = &libcni.GCArgs{ValidAttachments: *req.ValidAttachments}
		}
		return nil, cni.GCNetworkList(ctx, list, args)
	case "STATUS":
		return nil, cni.GetStatusNetworkList(ctx, list)
	}
	return nil, fmt.Errorf("libcni-driver: unknown command %q (ADD, CHECK, DEL, GC or STATUS)", req.Command)
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]string{
			"libcni": libcniVersion, "debianPackage": debianPackage, "go": runtime.Version(),
		})
		return
	}
	if len(os.Args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: libcni-driver [--version]; the request comes on stdin (see main.go)\n")
		os.Exit(2)
	}
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	line, err := in.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		fmt.Fprintf(os.Stderr, "libcni-driver: no request on stdin: %v\n", err)
		os.Exit(2)
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		fmt.Fprintf(os.Stderr, "libcni-driver: the request is not valid JSON: %v\n", err)
		os.Exit(2)
	}
	exec := &brokerExec{in: in, out: out}
	cni := libcni.NewCNIConfigWithCacheDir(req.CniPath, req.CacheDir, exec)
	result, err := perform(context.Background(), cni, &req)
	var d done
	if err != nil {
		d.Error = err.Error()
	} else {
		d.Result = result
	}
	if err := out.Encode(map[string]done{"done": d}); err != nil {
		os.Exit(1)
	}
}
