package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// publishedImage is where releases publish the image (see .github/workflows
// and the Makefile's DOCKER_IMAGE); its tag is "v" + VERSION.
const publishedImage = "ghcr.io/assuresign-exporter/assuresign_exporter"

// releaseImage is the image reference of this version: VERSION's, tagged v.
func releaseImage(t *testing.T) string {
	t.Helper()
	return publishedImage + ":v" + strings.TrimSpace(string(readRepoFile(t, "VERSION")))
}

// podImages lists every container image of the rendered workloads.
func podImages(r *rendered) map[string]string {
	images := map[string]string{}
	add := func(kind, name string, spec *corev1.PodSpec) {
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			images[kind+" "+name+" container "+c.Name] = c.Image
		}
	}
	for _, d := range r.deployments {
		add("Deployment", d.Name, &d.Spec.Template.Spec)
	}
	for _, s := range r.statefulSets {
		add("StatefulSet", s.Name, &s.Spec.Template.Spec)
	}
	return images
}

// TestEveryManifestNamesTheReleaseImage renders every kustomization and the
// Helm chart with its defaults: each container runs the published image at
// this version, nothing else.
func TestEveryManifestNamesTheReleaseImage(t *testing.T) {
	kubectl := requiredTool(t, "kubectl")
	want := releaseImage(t)
	for _, dir := range kustomizations(t) {
		r := render(t, kubectl, inRepo("deploy/kubernetes/"+dir))
		images := podImages(r)
		if len(images) == 0 {
			t.Errorf("deploy/kubernetes/%s: no container", dir)
		}
		for where, image := range images {
			if image != want {
				t.Errorf("deploy/kubernetes/%s: %s runs %q, want %q", dir, where, image, want)
			}
		}
	}
	// The Helm chart's default render, as `helm template` gives it.
	images := podImages(renderValues(t, ""))
	if len(images) == 0 {
		t.Errorf("%s: no container in the default render", chartDir)
	}
	for where, image := range images {
		if image != want {
			t.Errorf("%s, default values: %s runs %q, want %q", chartDir, where, image, want)
		}
	}
}

// imageRecipe finds, in the docs, the kustomization a user writes to run
// another image: a yaml block starting with this comment.
const imageRecipeMarker = "# my-assuresign/kustomization.yaml"

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

func imageRecipe(t *testing.T) (file, recipe string) {
	t.Helper()
	docs, err := filepath.Glob(inRepo("docs/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
			if strings.HasPrefix(m[1], imageRecipeMarker+"\n") {
				return doc, m[1]
			}
		}
	}
	t.Fatalf("no yaml block starting %q in docs/*.md", imageRecipeMarker)
	return "", ""
}

// TestPinAnotherImage follows the docs' recipe for running another image
// with kubectl kustomize alone, on each of our kustomizations in turn: the
// user's overlay names ours, and every container then runs the user's image.
func TestPinAnotherImage(t *testing.T) {
	kubectl := requiredTool(t, "kubectl")
	file, recipe := imageRecipe(t)
	remote := regexp.MustCompile(`(?m)^  - (https://github\.com/assuresign-exporter/assuresign_exporter//deploy/kubernetes/sharded\?ref=(\S+))$`).FindStringSubmatch(recipe)
	if remote == nil {
		t.Fatalf("%s: the recipe does not include deploy/kubernetes/sharded of a release:\n%s", file, recipe)
	}
	if want := strings.TrimPrefix(releaseImage(t), publishedImage+":"); remote[2] != want {
		t.Errorf("%s: the recipe takes release %s, want %s", file, remote[2], want)
	}
	newImage := regexp.MustCompile(`(?m)^\s+newName: (\S+)\n\s+newTag: (\S+)$`).FindStringSubmatch(recipe)
	if newImage == nil || !strings.Contains(recipe, "  - name: "+publishedImage+"\n") {
		t.Fatalf("%s: the recipe's images: does not rename %s:\n%s", file, publishedImage, recipe)
	}
	want := newImage[1] + ":" + newImage[2]
	for _, dir := range kustomizations(t) {
		// The user's overlay, with ours from this checkout instead of GitHub.
		own := t.TempDir()
		rel, err := filepath.Rel(own, inRepo("deploy/kubernetes/"+dir))
		if err != nil {
			t.Fatal(err)
		}
		k := strings.Replace(recipe, remote[1], filepath.ToSlash(rel), 1)
		if err := os.WriteFile(filepath.Join(own, "kustomization.yaml"), []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
		r := render(t, kubectl, own)
		for where, image := range podImages(r) {
			if image != want {
				t.Errorf("the recipe over deploy/kubernetes/%s: %s runs %q, want %q", dir, where, image, want)
			}
		}
	}
}

// TestDocsNameTheReleaseImage: wherever the docs, the examples or the CI
// workflow name the published image with a tag, it is this version's.
func TestDocsNameTheReleaseImage(t *testing.T) {
	want := releaseImage(t)
	tagged := regexp.MustCompile(regexp.QuoteMeta(publishedImage) + `:([A-Za-z0-9_.${}<>-]+)`)
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md", "deploy/kubernetes/*/*.yaml", "deploy/kubernetes/*/*/*.yaml", "deploy/helm/*/*.yaml", "deploy/helm/*/*.md", ".github/workflows/*.yml", "examples/*"} {
		m, err := filepath.Glob(inRepo(pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	found := 0
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range tagged.FindAllStringSubmatch(line, -1) {
				if strings.Contains(m[1], "$") || strings.Contains(m[1], "VERSION") { // a variable or a placeholder
					continue
				}
				found++
				if m[0] != want {
					t.Errorf("%s:%d: %s, want %s", mustRel(t, repoRoot, f), i+1, m[0], want)
				}
			}
		}
	}
	if found == 0 {
		t.Errorf("no file names %s with a version's tag: the install docs should", publishedImage)
	}
}

// TestMakefileImage: `make image` prints the image the docker targets build
// and push, the same reference as the manifests'.
func TestMakefileImage(t *testing.T) {
	makeTool := requiredTool(t, "make")
	cmd := exec.Command(makeTool, "-s", "--no-print-directory", "image")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make image: %v", err)
	}
	if got, want := strings.TrimSpace(string(out)), releaseImage(t); got != want {
		t.Errorf("make image: %q, want %q", got, want)
	}
}
