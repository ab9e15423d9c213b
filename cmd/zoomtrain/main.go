// Command zoomtrain trains image classifiers with the saliency-based sampling layer of
// "Learning to Zoom" (Recasens et al., ECCV 2018).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], stdStreams()))
}
